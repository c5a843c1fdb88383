local mode = vars.mode or "dev"
if mode ~= "prod" then
  error("this stack must be loaded with --set mode=prod")
end
