-- GET /v1/volunteers?limit=20&zip_code=Z: a page of 20 with a filter; Z is one of the six
-- seeded ZIP codes at random (LIST_ZIP fixes it)
local C = dofile(os.getenv("BENCH_LUA") .. "/common.lua")
local fixed = os.getenv("LIST_ZIP")
function init(args) C.init() end
function request()
  local zip = (fixed and fixed ~= "") and fixed or C.zips[math.random(1, #C.zips)]
  return wrk.format("GET", "/v1/volunteers?limit=20&zip_code=" .. zip)
end
