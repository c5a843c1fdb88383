project "pj-"
image "ok" { from = "busybox:1.36" }
