-- Shared helpers for Muster's wrk scripts (loaded with dofile by each scenario script).
-- env: AUTH ("Bearer ..."), IDS_FILE (one volunteer UUID a line), CANDIDATES_FILE (one
--      candidate UUID a line), RUN_ID (makes e-mails unique per run), TALLY=1 (count status
--      codes per thread and print them at the end: diagnostics only, it slows wrk down)
local M = {}

M.auth = os.getenv("AUTH")
M.run = os.getenv("RUN_ID") or tostring(os.time())
M.threads = {}

-- every thread gets its own number (for unique e-mails) and its own random sequence
local nthreads = 0
function setup(thread)
  nthreads = nthreads + 1
  thread:set("tid", nthreads)
  table.insert(M.threads, thread)
end

function M.lines(path)
  local out = {}
  if not path or path == "" then return out end
  local f = assert(io.open(path, "r"), "cannot open " .. path)
  for line in f:lines() do
    if line ~= "" then out[#out + 1] = line end
  end
  f:close()
  return out
end

function M.init()
  math.randomseed(7919 * (tid or 1) + os.time())
  if M.auth and M.auth ~= "" then wrk.headers["Authorization"] = M.auth end
  M.ids = M.lines(os.getenv("IDS_FILE"))
  M.candidates = M.lines(os.getenv("CANDIDATES_FILE"))
end

function M.random_id()
  return M.ids[math.random(1, #M.ids)]
end

local FIRST = { "Ana", "Ben", "Chloe", "Dev", "Eli", "Fatima", "Gus", "Hana", "Ivan", "June" }
local LAST = { "Garcia", "Smith", "Nguyen", "Okafor", "Kim", "Rossi", "Cohen", "Singh", "Lopez", "Brown" }
local ZIPS = { "02139", "60614", "80205", "94612", "30310", "78702" }
local TAGS = { '[]', '["canvasser"]', '["spanish","driver"]', '["phone"]' }
M.zips = ZIPS

-- one new volunteer as JSON; the e-mail is unique per run, thread and request.
-- sent_rows counts them (a global, so done() can add up the threads' counts).
local n = 0
sent_rows = 0
function M.volunteer_json()
  n = n + 1
  sent_rows = sent_rows + 1
  local cand = ""
  if #M.candidates > 0 then
    cand = string.format(',"candidate_id":"%s"', M.candidates[math.random(1, #M.candidates)])
  end
  return string.format(
    '{"first_name":"%s","last_name":"%s","email":"bench-%s-%d-%d@example.org","phone":"+1617555%04d","zip_code":"%s","tags":%s%s}',
    FIRST[math.random(1, #FIRST)], LAST[math.random(1, #LAST)], M.run, tid or 0, n,
    100 + n % 100, ZIPS[math.random(1, #ZIPS)], TAGS[math.random(1, #TAGS)], cand)
end

local function sum(name)
  local total = 0
  for _, t in ipairs(M.threads) do total = total + (t:get(name) or 0) end
  return total
end

-- at the end: how many rows the script asked to create (bench/run compares it with the
-- rows the database gained, to catch 2xx answers whose writes were lost)
function done(summary, latency, requests)
  io.write(string.format("SENT_ROWS %d\n", sum("sent_rows")))
end

-- diagnostics: which status codes came back
if os.getenv("TALLY") == "1" then
  codes = {}
  function response(status, headers, body)
    codes[status] = (codes[status] or 0) + 1
  end
  function done(summary, latency, requests)
    local total = {}
    for _, t in ipairs(M.threads) do
      local c = t:get("codes") or {}
      for k, v in pairs(c) do total[k] = (total[k] or 0) + v end
    end
    local parts = {}
    for k, v in pairs(total) do parts[#parts + 1] = string.format('"%d":%d', k, v) end
    io.write("STATUS_TALLY {" .. table.concat(parts, ",") .. "}\n")
  end
end

return M
