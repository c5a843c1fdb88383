local text = read "/dev/zero"
