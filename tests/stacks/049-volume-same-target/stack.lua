service "db" {
  image = "postgres:15",
  volumes = { "a:/y", "b:/y/" },
}
