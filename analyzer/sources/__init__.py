"""Where changes come from: git ranges, the index, mail series, fixture trees."""
