service "Web" { image = "nginx:1.25" }
service "web" { image = "nginx:1.25" }
