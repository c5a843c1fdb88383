image "app" { from = "Alpine:3.19" }
