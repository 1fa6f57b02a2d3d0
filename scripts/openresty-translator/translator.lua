-- The translator a user would write instead of StockGate (issue 34): an OpenResty plugin
-- (nginx + lua-nginx-module + cjson, the architecture Kong is built on) doing the two
-- translations of the benchmark's hop cells, with no journal:
--
--   read:  GET /stockgate/v1/balances?location=KEY
--          -> Zettle GET /organizations/self/inventory/locations/{uuid} -> StockGate's balances
--   write: Colleqtive POST /api/v2/public/stores/{store}/storeproductlocation/movement
--          -> Open2b v6 POST /api/v6/commerce.movements.create, one call per movement
--
-- The catalog's CSVs (mappings/) are read once, when nginx starts (init_by_lua). The backend
-- is reached through an internal location proxying to a keep-alive upstream
-- (ngx.location.capture), as plugin authors commonly do. scripts/bench checks it answers
-- what StockGate answers before it measures it.
local cjson = require "cjson.safe"

local M = {}

local products = {}          -- key -> row
local by_number = {}         -- colleqtive_product_number -> row
local by_variant = {}        -- zettle_variant_uuid -> row
local locations = {}         -- key -> row
local by_store_code = {}     -- "store/code" -> row
local stock_location         -- the open2b_role=stock location

local function read_csv(path)
    local rows = {}
    local file = assert(io.open(path, "r"))
    local header
    for line in file:lines() do
        local fields = {}
        for field in (line .. ","):gmatch("([^,]*),") do fields[#fields + 1] = field end
        if not header then
            header = fields
        else
            local row = {}
            for i, name in ipairs(header) do
                if fields[i] ~= nil and fields[i] ~= "" then row[name] = fields[i] end
            end
            rows[#rows + 1] = row
        end
    end
    file:close()
    return rows
end

function M.load(directory)
    for _, row in ipairs(read_csv(directory .. "/products.csv")) do
        products[row.key] = row
        if row.colleqtive_product_number then by_number[row.colleqtive_product_number] = row end
        if row.zettle_variant_uuid then by_variant[row.zettle_variant_uuid] = row end
    end
    for _, row in ipairs(read_csv(directory .. "/locations.csv")) do
        locations[row.key] = row
        if row.colleqtive_store and row.colleqtive_location_code then
            by_store_code[row.colleqtive_store .. "/" .. row.colleqtive_location_code] = row
        end
        if row.open2b_role == "stock" then stock_location = row end
    end
end

local function answer(status, body)
    ngx.status = status
    ngx.header["Content-Type"] = "application/json; charset=utf-8"
    ngx.print(body)
    return ngx.exit(status)
end

-- StockGate's error envelope for the read, Colleqtive's for the write.
local function canonical_error(status, code, message, field)
    return answer(status, cjson.encode({ error = { code = code, message = message, field = field } }))
end

local function colleqtive_error(status, message)
    return answer(status, '{"data":null,"message":' .. cjson.encode(message) .. ',"success":false}')
end

function M.balances()
    local key = ngx.var.arg_location
    local location = key and locations[key]
    if not location then
        return canonical_error(404, "notFound", "Location '" .. tostring(key) .. "' not found", "location")
    end
    if not location.zettle_uuid then
        return canonical_error(422, "unsupported", "location has no Zettle UUID", "location")
    end
    local upstream = ngx.location.capture("/_backend/organizations/self/inventory/locations/" .. location.zettle_uuid,
        { method = ngx.HTTP_GET })
    if upstream.status ~= 200 then
        return canonical_error(502, "backendError", "Zettle answered " .. upstream.status)
    end
    local zettle = cjson.decode(upstream.body)
    if type(zettle) ~= "table" or type(zettle.variants) ~= "table" then
        return canonical_error(502, "backendError", "Zettle's answer is not one")
    end
    local rows = {}
    for _, variant in ipairs(zettle.variants) do
        local product = by_variant[variant.variantUuid]
        if product then
            rows[#rows + 1] = cjson.encode({ product = product.key, location = key, quantity = tostring(variant.balance) })
        end
    end
    return answer(200, '{"balances":[' .. table.concat(rows, ",") .. ']}')
end

-- The signed adjustment of Open2b's one stock location, as Open2b's two-decimal text.
local function adjustment(from, to, quantity)
    if to == stock_location then
        return string.format("%.2f", quantity)
    elseif from == stock_location then
        return string.format("%.2f", -quantity)
    end
    return nil
end

function M.colleqtive_movement(store)
    ngx.req.read_body()
    local items = cjson.decode(ngx.req.get_body_data() or "")
    if type(items) ~= "table" or #items == 0 then
        return colleqtive_error(400, "the body must be a JSON array of movements")
    end
    local calls = {}
    for index, item in ipairs(items) do
        local name = "[" .. (index - 1) .. "]"
        local product = type(item) == "table" and by_number[tostring(item.product_number)]
        if not product or not product.sku then
            return colleqtive_error(404, name .. ".product_number: Product '" .. tostring(item.product_number)
                .. "' does not exist")
        end
        local quantity = item.quantity
        if type(quantity) ~= "number" or quantity <= 0 then
            return colleqtive_error(400, name .. ".quantity must be a number greater than zero")
        end
        local from = type(item.from_location) == "table" and by_store_code[store .. "/" .. tostring(item.from_location.location_code)]
        local to = type(item.to_location) == "table" and by_store_code[store .. "/" .. tostring(item.to_location.location_code)]
        if not from or not to then
            return colleqtive_error(404, name .. ": location does not exist in store " .. store)
        end
        local signed = adjustment(from, to, quantity)
        if not signed then
            return colleqtive_error(422, name .. ": Open2b only knows adjustments of its stock location")
        end
        calls[#calls + 1] = cjson.encode({ movement = { sku = product.sku, adjustment = signed } })
    end
    local ids = {}
    for _, body in ipairs(calls) do
        local upstream = ngx.location.capture("/_backend/api/v6/commerce.movements.create",
            { method = ngx.HTTP_POST, body = body })
        local result = upstream.status == 200 and cjson.decode(upstream.body)
        if type(result) ~= "table" or result.status ~= "ok" then
            return colleqtive_error(502, "Open2b refused the movement")
        end
        ids[#ids + 1] = tostring(result.id)
    end
    return answer(200, '{"data":' .. cjson.encode(table.concat(ids, ","))
        .. ',"message":"Record created successfully.","success":true}')
end

return M
