return { base = nil }
