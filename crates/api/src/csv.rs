//! A streaming CSV record reader over `csv-core`: bytes go in as the request body arrives,
//! whole records come out with the line they started on. Only the record being parsed is
//! buffered, so a 50 MB upload never sits in memory at once. A UTF-8 byte-order mark is
//! skipped (spreadsheets write one); quoting follows RFC 4180.

/// One record: its fields and the line it started on (1-based, header included).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub line: u64,
    pub fields: Result<Vec<String>, String>,
}

pub struct Records {
    rdr: csv_core::Reader,
    out: Vec<u8>,
    ends: Vec<usize>,
    out_len: usize,
    ends_len: usize,
    /// Newlines consumed so far, and the last byte consumed: together with the newlines
    /// inside a record's fields they give the line it started on, however the input was
    /// chunked (csv-core may finish a record before or after its `\n`).
    newlines: u64,
    last_byte: u8,
    /// Largest record accepted; a longer one is a client error, not a memory problem.
    max_record: usize,
    /// No record taken yet: its first field may start with a byte-order mark that arrived
    /// split across chunks (csv-core only strips one it sees whole).
    first: bool,
}

impl Records {
    pub fn new(max_record: usize) -> Self {
        Records {
            rdr: csv_core::Reader::new(),
            out: vec![0; 4096],
            ends: vec![0; 64],
            out_len: 0,
            ends_len: 0,
            newlines: 0,
            last_byte: 0,
            max_record,
            first: true,
        }
    }

    /// Parses `input` (empty means the end of the data), appending finished records.
    pub fn feed(&mut self, mut input: &[u8], sink: &mut Vec<Record>) -> Result<(), String> {
        use csv_core::ReadRecordResult as R;
        loop {
            let (res, nin, nout, nend) =
                self.rdr.read_record(input, &mut self.out[self.out_len..], &mut self.ends[self.ends_len..]);
            let consumed = &input[..nin];
            self.newlines += bytecount(consumed);
            if let Some(&b) = consumed.last() {
                self.last_byte = b;
            }
            input = &input[nin..];
            self.out_len += nout;
            self.ends_len += nend;
            match res {
                R::InputEmpty | R::End => return Ok(()),
                R::OutputFull => {
                    if self.out.len() >= self.max_record {
                        return Err(format!(
                            "a record near line {} is longer than {} KiB",
                            self.newlines + 1,
                            self.max_record / 1024
                        ));
                    }
                    self.out.resize(self.out.len() * 2, 0);
                }
                R::OutputEndsFull => self.ends.resize(self.ends.len() * 2, 0),
                R::Record => {
                    sink.push(self.take());
                    if input.is_empty() && nin == 0 {
                        // the end of the data produced the last record; the next call says End
                        continue;
                    }
                }
            }
        }
    }

    fn take(&mut self) -> Record {
        let mut fields = Vec::with_capacity(self.ends_len);
        let mut start = 0;
        let mut bad = false;
        for &end in &self.ends[..self.ends_len] {
            match std::str::from_utf8(&self.out[start..end]) {
                Ok(s) => fields.push(s.to_owned()),
                Err(_) => bad = true,
            }
            start = end;
        }
        if std::mem::take(&mut self.first)
            && let Some(f) = fields.first_mut()
            && let Some(rest) = f.strip_prefix('\u{feff}')
        {
            *f = rest.to_owned();
        }
        let inner: u64 = fields.iter().map(|f| bytecount(f.as_bytes())).sum();
        let own_terminator = u64::from(self.last_byte == b'\n');
        let line = (self.newlines + 1).saturating_sub(inner + own_terminator).max(1);
        let record = Record { line, fields: if bad { Err("is not valid UTF-8".into()) } else { Ok(fields) } };
        self.out_len = 0;
        self.ends_len = 0;
        record
    }
}

fn bytecount(b: &[u8]) -> u64 {
    b.iter().filter(|&&c| c == b'\n').count() as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_in_chunks(data: &[u8], chunk: usize) -> Vec<Record> {
        let mut r = Records::new(1 << 20);
        let mut out = Vec::new();
        for c in data.chunks(chunk) {
            r.feed(c, &mut out).unwrap();
        }
        r.feed(&[], &mut out).unwrap();
        out
    }

    #[test]
    fn quoting_bom_and_lines_whatever_the_chunking() {
        let data = "\u{feff}name,note\r\nAna,\"says \"\"hi\"\"\"\nBen,\"two\nlines\"\nZoë,last";
        for chunk in [1, 2, 3, 7, 1000] {
            let recs = parse_in_chunks(data.as_bytes(), chunk);
            let fields: Vec<Vec<String>> = recs.iter().map(|r| r.fields.clone().unwrap()).collect();
            assert_eq!(
                fields,
                vec![
                    vec!["name".to_owned(), "note".to_owned()],
                    vec!["Ana".into(), "says \"hi\"".into()],
                    vec!["Ben".into(), "two\nlines".into()],
                    vec!["Zoë".into(), "last".into()],
                ],
                "chunk {chunk}"
            );
            let lines: Vec<u64> = recs.iter().map(|r| r.line).collect();
            assert_eq!(lines, [1, 2, 3, 5], "chunk {chunk}");
        }
    }

    #[test]
    fn bad_utf8_and_oversized_records() {
        let recs = parse_in_chunks(b"a,b\n\xff,x\n", 4);
        assert!(recs[1].fields.is_err());
        let mut r = Records::new(8192);
        let mut out = Vec::new();
        let long = format!("\"{}", "x".repeat(20_000));
        assert!(r.feed(long.as_bytes(), &mut out).is_err());
    }
}
