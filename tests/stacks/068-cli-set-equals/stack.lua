assert(vars.a == "b=c", "vars.a is " .. tostring(vars.a))
image "app" { from = "busybox:1.36" }
