-- HAProxy converter "rfc9440_list": the DER certificates that ssl_c_chain_der returns back
-- to back (no delimiter), as an RFC 9440 Client-Cert-Chain value ":b64:, :b64:".
--
-- Use: %[ssl_c_chain_der,hex,lua.rfc9440_list]
-- The ",hex" is required: HAProxy passes a binary sample to a Lua converter as a string
-- cut at the first NUL byte (seen on 2.6), and every DER certificate contains NUL bytes.
-- Returns nothing (the header is then not set) when the input is not a sequence of
-- well-formed DER SEQUENCEs, so the origin sees a leaf without chain, never a bad chain.

local ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"

local function b64(data)
  local out = {}
  for i = 1, #data, 3 do
    local a, b, c = data:byte(i, i + 2)
    local n = (a << 16) | ((b or 0) << 8) | (c or 0)
    local s1, s2 = (n >> 18) & 63, (n >> 12) & 63
    local s3, s4 = (n >> 6) & 63, n & 63
    out[#out + 1] = ALPHABET:sub(s1 + 1, s1 + 1) .. ALPHABET:sub(s2 + 1, s2 + 1)
      .. (b and ALPHABET:sub(s3 + 1, s3 + 1) or "=")
      .. (c and ALPHABET:sub(s4 + 1, s4 + 1) or "=")
  end
  return table.concat(out)
end

local function unhex(text)
  if #text % 2 ~= 0 or text:find("[^%x]") then
    return nil
  end
  return (text:gsub("%x%x", function(pair) return string.char(tonumber(pair, 16)) end))
end

local function split_der(der)
  local certs, pos = {}, 1
  while pos <= #der do
    local tag, first = der:byte(pos, pos + 1)
    if tag ~= 0x30 or first == nil then
      return nil
    end
    local length, header = first, 2
    if first >= 0x80 then
      local count = first & 0x7f
      if count < 1 or count > 3 or pos + 1 + count > #der then
        return nil
      end
      length = 0
      for k = 1, count do
        length = (length << 8) | der:byte(pos + 1 + k)
      end
      header = 2 + count
    end
    local last = pos + header + length - 1
    if last > #der then
      return nil
    end
    certs[#certs + 1] = der:sub(pos, last)
    pos = last + 1
  end
  return certs
end

core.register_converters("rfc9440_list", function(hex)
  local der = unhex(hex or "")
  if der == nil or der == "" then
    return nil
  end
  local certs = split_der(der)
  if certs == nil then
    return nil
  end
  local items = {}
  for i, cert in ipairs(certs) do
    items[i] = ":" .. b64(cert) .. ":"
  end
  return table.concat(items, ", ")
end)
