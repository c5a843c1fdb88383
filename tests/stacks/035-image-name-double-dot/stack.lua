image "a..b" { from = "busybox:1.36" }
