local top = {}
local t = top
for _ = 1, 100000 do t[1] = {}; t = t[1] end
t[1] = run "echo hi"
image "app" { from = "busybox:1.36", top }
