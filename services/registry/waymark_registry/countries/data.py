"""The programme's fifteen countries and their National Societies (DESIGN.md §1)."""

PROGRAMME_COUNTRIES: tuple[tuple[str, str, str], ...] = (
    ("BJ", "Benin", "Red Cross of Benin"),
    ("EC", "Ecuador", "Ecuadorian Red Cross"),
    ("ET", "Ethiopia", "Ethiopian Red Cross Society"),
    ("GT", "Guatemala", "Guatemalan Red Cross"),
    ("HN", "Honduras", "Honduran Red Cross"),
    ("ID", "Indonesia", "Indonesian Red Cross (Palang Merah Indonesia)"),
    ("JO", "Jordan", "Jordan National Red Crescent Society"),
    ("KZ", "Kazakhstan", "Kazakh Red Crescent"),
    ("LB", "Lebanon", "Lebanese Red Cross"),
    ("MA", "Morocco", "Moroccan Red Crescent"),
    ("NP", "Nepal", "Nepal Red Cross Society"),
    ("RU", "Russian Federation", "Russian Red Cross"),
    ("TJ", "Tajikistan", "Red Crescent Society of Tajikistan"),
    ("TH", "Thailand", "Thai Red Cross Society"),
    ("ZW", "Zimbabwe", "Zimbabwe Red Cross Society"),
)
