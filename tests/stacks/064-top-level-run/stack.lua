image "app" { from = "busybox:1.36" }
run "echo outside"
