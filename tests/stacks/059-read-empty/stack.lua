local text = read ""
