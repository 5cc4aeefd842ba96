-- GET /v1/volunteers/{id} with a random real id from IDS_FILE (see common.lua for env)
local C = dofile(os.getenv("BENCH_LUA") .. "/common.lua")
function init(args) C.init() end
function request()
  return wrk.format("GET", "/v1/volunteers/" .. C.random_id())
end
