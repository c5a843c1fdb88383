-- embed.lua SRC SYMBOL OUT: writes SRC as a C byte array named SYMBOL into OUT,
-- rewriting OUT only when its content changes (so make rebuilds only then).
local src, sym, out = arg[1], arg[2], arg[3]
local f = assert(io.open(src, "rb")); local data = f:read("a"); f:close()
local parts = { ("/* generated from %s by tools/embed.lua; do not edit */\n"):format(src),
  ("static const char %s[] = {\n"):format(sym) }
for i = 1, #data, 16 do
  local row = {}
  for j = i, math.min(i + 15, #data) do row[#row + 1] = ("%d,"):format(data:byte(j)) end
  parts[#parts + 1] = table.concat(row) .. "\n"
end
parts[#parts + 1] = ("0};\nstatic const size_t %s_len = %d;\n"):format(sym, #data)
local text = table.concat(parts)
os.execute("mkdir -p \"$(dirname '" .. out .. "')\"")
local g = io.open(out, "rb")
if g then local old = g:read("a"); g:close(); if old == text then return end end
g = assert(io.open(out, "wb")); g:write(text); g:close()
