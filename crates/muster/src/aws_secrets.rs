//! Secrets from AWS Secrets Manager and SSM Parameter Store, resolved once at start-up.
//!
//! A `MUSTER_*` variable whose value is `aws-sm:<secret id or ARN>`, `aws-sm:<id>#<key>`
//! (a key of a JSON secret) or `aws-ssm:<parameter name>` is replaced by the secret's value
//! before the configuration is read, so the value never sits in the function's
//! configuration and a rotated secret reaches each new execution environment.
//!
//! The values come through the AWS Parameters and Secrets Lambda Extension, a layer AWS
//! maintains that serves them on `localhost:2773` (port `PARAMETERS_SECRETS_EXTENSION_HTTP_PORT`)
//! and caches them, authenticated with the environment's `AWS_SESSION_TOKEN`. It speaks
//! plain HTTP, so no AWS SDK is linked for two reads at start-up.

use serde_json::Value;
use std::time::Duration;

/// A reference to a Secrets Manager secret.
pub const SECRETS_MANAGER: &str = "aws-sm:";
/// A reference to an SSM parameter (read with decryption).
pub const PARAMETER_STORE: &str = "aws-ssm:";
/// The extension's default port.
const DEFAULT_PORT: u16 = 2773;
/// How long to wait for the extension at a cold start (it starts before the runtime, but
/// may still be reading its first secret).
const PATIENCE: Duration = Duration::from_secs(3);

/// Whether any value refers to a secret (nothing is fetched otherwise).
pub fn any_reference(env: &[(String, String)]) -> bool {
    env.iter().any(|(_, v)| v.starts_with(SECRETS_MANAGER) || v.starts_with(PARAMETER_STORE))
}

/// `env` with every reference replaced by the value it names; the error names the variable
/// and the reference, never a value.
pub async fn resolve(env: Vec<(String, String)>) -> Result<Vec<(String, String)>, String> {
    if !any_reference(&env) {
        return Ok(env);
    }
    let extension = Extension::from_env()?;
    let mut out = Vec::with_capacity(env.len());
    for (name, value) in env {
        let resolved = if let Some(id) = value.strip_prefix(SECRETS_MANAGER) {
            extension.secret(id).await
        } else if let Some(p) = value.strip_prefix(PARAMETER_STORE) {
            extension.parameter(p).await
        } else {
            Ok(value.clone())
        };
        match resolved {
            Ok(v) => out.push((name, v)),
            Err(why) => return Err(format!("{name}: cannot read {value}: {why}")),
        }
    }
    Ok(out)
}

/// The extension's HTTP endpoint and the token it wants.
struct Extension {
    http: reqwest::Client,
    base: String,
    token: String,
}

impl Extension {
    fn from_env() -> Result<Extension, String> {
        let port = match std::env::var("PARAMETERS_SECRETS_EXTENSION_HTTP_PORT") {
            Ok(p) => {
                p.parse::<u16>().map_err(|_| format!("PARAMETERS_SECRETS_EXTENSION_HTTP_PORT {p:?} is not a port"))?
            }
            Err(_) => DEFAULT_PORT,
        };
        let token = std::env::var("AWS_SESSION_TOKEN")
            .map_err(|_| "AWS_SESSION_TOKEN is not set: secrets are read through the AWS Parameters and Secrets Lambda Extension, on Lambda".to_owned())?;
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .build()
            .map_err(|e| format!("cannot make an HTTP client: {e}"))?;
        Ok(Extension { http, base: format!("http://127.0.0.1:{port}"), token })
    }

    /// A Secrets Manager secret's string, or one key of it when it is JSON (`id#key`).
    async fn secret(&self, reference: &str) -> Result<String, String> {
        let (id, key) = match reference.split_once('#') {
            Some((id, key)) => (id, Some(key)),
            None => (reference, None),
        };
        let answer = self.get("/secretsmanager/get", &[("secretId", id)]).await?;
        let text =
            answer["SecretString"].as_str().ok_or("the secret has no SecretString (binary secrets are not read)")?;
        match key {
            None => Ok(text.to_owned()),
            Some(key) => {
                let json: Value = serde_json::from_str(text)
                    .map_err(|_| format!("the secret is not JSON, so it has no key {key:?}"))?;
                match &json[key] {
                    Value::String(s) => Ok(s.clone()),
                    Value::Null => Err(format!("the secret has no key {key:?}")),
                    other => Ok(other.to_string()),
                }
            }
        }
    }

    async fn parameter(&self, name: &str) -> Result<String, String> {
        let answer = self.get("/systemsmanager/parameters/get", &[("name", name), ("withDecryption", "true")]).await?;
        answer["Parameter"]["Value"]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| "the answer has no Parameter.Value".to_owned())
    }

    /// One read, retried while the extension is not listening yet.
    async fn get(&self, path: &str, query: &[(&str, &str)]) -> Result<Value, String> {
        let deadline = tokio::time::Instant::now() + PATIENCE;
        loop {
            let sent = self
                .http
                .get(format!("{}{path}", self.base))
                .query(query)
                .header("X-Aws-Parameters-Secrets-Token", &self.token)
                .send()
                .await;
            match sent {
                Ok(r) if r.status().is_success() => {
                    return r.json::<Value>().await.map_err(|e| format!("the extension's answer is not JSON: {e}"));
                }
                Ok(r) => {
                    let status = r.status().as_u16();
                    // the extension relays Secrets Manager's error, which names no value
                    let body = r.text().await.unwrap_or_default();
                    return Err(format!(
                        "the extension answered {status}: {}",
                        body.chars().take(300).collect::<String>()
                    ));
                }
                Err(e) if e.is_connect() && tokio::time::Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                Err(e) => {
                    return Err(format!(
                        "the AWS Parameters and Secrets extension at {} did not answer: {e}",
                        self.base
                    ));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_prefixed_values_are_references() {
        let env = |v: &str| vec![("MUSTER_JWT_SECRET".to_owned(), v.to_owned())];
        assert!(any_reference(&env("aws-sm:arn:aws:secretsmanager:us-east-1:1:secret:jwt")));
        assert!(any_reference(&env("aws-ssm:/muster/prod/database-url")));
        assert!(!any_reference(&env("a-plain-secret-aws-sm:not-a-reference")));
    }
}
