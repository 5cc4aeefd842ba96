-- POST /v1/volunteers/batch: BATCH_SIZE (default 1000) creates per call, atomic=false
local C = dofile(os.getenv("BENCH_LUA") .. "/common.lua")
local size = tonumber(os.getenv("BATCH_SIZE") or "1000")
function init(args)
  C.init()
  wrk.headers["Content-Type"] = "application/json"
end
function request()
  local ops = {}
  for i = 1, size do
    ops[i] = '{"op":"create","data":' .. C.volunteer_json() .. '}'
  end
  return wrk.format("POST", "/v1/volunteers/batch", nil,
    '{"atomic":false,"operations":[' .. table.concat(ops, ",") .. ']}')
end
