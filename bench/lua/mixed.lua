-- 80/20 read/write: READ_PCT (default 80) percent GET /v1/volunteers/{random id}, the rest
-- POST /v1/volunteers
local C = dofile(os.getenv("BENCH_LUA") .. "/common.lua")
local read_pct = tonumber(os.getenv("READ_PCT") or "80")
local post_headers = {}
function init(args)
  C.init()
  -- wrk.format does not merge a headers table with wrk.headers: copy them (Authorization)
  for k, v in pairs(wrk.headers) do post_headers[k] = v end
  post_headers["Content-Type"] = "application/json"
end
function request()
  if math.random(1, 100) <= read_pct then
    return wrk.format("GET", "/v1/volunteers/" .. C.random_id())
  end
  return wrk.format("POST", "/v1/volunteers", post_headers, C.volunteer_json())
end
