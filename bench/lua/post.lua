-- POST /v1/volunteers: one new volunteer with a unique e-mail
local C = dofile(os.getenv("BENCH_LUA") .. "/common.lua")
function init(args)
  C.init()
  wrk.headers["Content-Type"] = "application/json"
end
function request()
  return wrk.format("POST", "/v1/volunteers", nil, C.volunteer_json())
end
