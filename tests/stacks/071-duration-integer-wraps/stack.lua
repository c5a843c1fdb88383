-- 18446744073709551 ms as a Lua integer times 1000 wraps to -616 in
-- integer arithmetic: the checker must not take it for a short interval
service "db" {
  image = "postgres:15",
  health = tcp { port = 5432, interval = "18446744073709551s" },
}
