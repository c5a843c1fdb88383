project "p"
image "a" { from = "busybox:latest" }
