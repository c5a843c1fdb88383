project { "shop", cach = "registry.example.com/team/cache" }
image "a" { from = "busybox:latest" }
