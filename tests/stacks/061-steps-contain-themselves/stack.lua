local common = { run "echo hi" }
common[2] = common
image "app" { from = "busybox:1.36", common }
