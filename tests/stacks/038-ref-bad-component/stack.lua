image "app" { from = "registry.example.com/x.-y:1" }
