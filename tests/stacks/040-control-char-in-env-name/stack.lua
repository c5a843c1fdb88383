service "web" {
  image = "nginx:1.25",
  env = { ["B\nC"] = "v" },
}
