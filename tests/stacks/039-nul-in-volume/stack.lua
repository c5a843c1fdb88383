service "db" {
  image = "postgres:15",
  volumes = { "x:/y\0z" },
}
