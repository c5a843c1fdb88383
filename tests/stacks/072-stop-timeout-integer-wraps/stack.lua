-- a whole number of seconds whose milliseconds do not fit in a Lua integer
service "db" {
  image = "postgres:15",
  stop_timeout = 18446744073709551,
}
