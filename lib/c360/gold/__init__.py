"""Gold layer: customer 360, lifecycle segments and history, dealer radiography, KPIs."""
