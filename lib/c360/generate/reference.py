"""Reference lists for the synthetic world: names, places, models, texts.

The population is Spanish-based with a share of foreign residents, as in the seeds
(Nissan Spain). Lists are small on purpose; frequency skew comes from how they are
sampled (see ``world.zipf_pick``), so common surnames repeat like real ones do.
"""

from __future__ import annotations

FEMALE_NAMES = [
    "María", "Carmen", "Ana", "Isabel", "Laura", "Cristina", "Marta", "Lucía", "Elena", "Paula",
    "Dolores", "Pilar", "Rosario", "Concepción", "Francisca", "Josefa", "Teresa", "Raquel",
    "Beatriz", "Silvia", "Patricia", "Sara", "Andrea", "Nuria", "Mercedes", "Montserrat",
    "Inmaculada", "Susana", "Alicia", "Irene", "Sofía", "Claudia", "Julia", "Noelia", "Verónica",
    "Elizabeth", "Katherine", "Margaret", "Jennifer", "Anne", "Sophie", "Claire", "Ingrid",
    "Chloé", "Amélie", "Giulia", "Fatima", "Aitana", "Ainhoa", "Nerea",
]
MALE_NAMES = [
    "Antonio", "José", "Manuel", "Francisco", "David", "Juan", "Javier", "Daniel", "Carlos",
    "Jesús", "Alejandro", "Miguel", "Rafael", "Pedro", "Pablo", "Ángel", "Sergio", "Fernando",
    "Jorge", "Luis", "Alberto", "Álvaro", "Adrián", "Diego", "Raúl", "Enrique", "Ignacio",
    "Ramón", "Vicente", "Guillermo", "Joaquín", "Santiago", "Andrés", "Eduardo", "Óscar",
    "Rubén", "Iván", "Mikel", "Jordi", "Xavier", "William", "Robert", "Michael", "James",
    "Thomas", "Christopher", "Alexander", "Pierre", "Luca", "Mohamed",
]
# Nicknames people really type: given name -> short form.
NICKNAMES = {
    "Francisco": "Paco", "José": "Pepe", "Manuel": "Manolo", "Antonio": "Toño",
    "Ignacio": "Nacho", "Jesús": "Chus", "Enrique": "Quique", "Guillermo": "Guille",
    "Alejandro": "Álex", "Alexander": "Alex", "Dolores": "Lola", "Rosario": "Charo",
    "Concepción": "Conchi", "Francisca": "Paqui", "Josefa": "Pepa", "Mercedes": "Merche",
    "Montserrat": "Montse", "Inmaculada": "Inma", "Cristina": "Cris", "Daniel": "Dani",
    "Elizabeth": "Liz", "Katherine": "Kate", "Margaret": "Maggie", "Jennifer": "Jenny",
    "William": "Bill", "Robert": "Bob", "Michael": "Mike", "James": "Jim", "Thomas": "Tom",
    "Christopher": "Chris", "Santiago": "Santi", "Eduardo": "Edu", "Fernando": "Fer",
    "Teresa": "Tere", "Beatriz": "Bea", "Patricia": "Patri", "Verónica": "Vero",
    "Guadalupe": "Lupe", "Joaquín": "Quino", "Vicente": "Vicen",
}
# Ordered roughly by real frequency: the first ones are drawn far more often.
SURNAMES = [
    "García", "Rodríguez", "González", "Fernández", "López", "Martínez", "Sánchez", "Pérez",
    "Gómez", "Martín", "Jiménez", "Ruiz", "Hernández", "Díaz", "Moreno", "Muñoz", "Álvarez",
    "Romero", "Alonso", "Gutiérrez", "Navarro", "Torres", "Domínguez", "Vázquez", "Ramos",
    "Gil", "Ramírez", "Serrano", "Blanco", "Molina", "Morales", "Suárez", "Ortega", "Delgado",
    "Castro", "Ortiz", "Rubio", "Marín", "Sanz", "Núñez", "Iglesias", "Medina", "Garrido",
    "Cortés", "Castillo", "Santos", "Lozano", "Guerrero", "Cano", "Prieto", "Méndez", "Cruz",
    "Calvo", "Gallego", "Vidal", "León", "Márquez", "Herrera", "Peña", "Flores", "Cabrera",
    "Campos", "Vega", "Fuentes", "Carrasco", "Diez", "Caballero", "Reyes", "Nieto", "Aguilar",
    "Pascual", "Santana", "Herrero", "Lorenzo", "Montero", "Hidalgo", "Giménez", "Ibáñez",
    "Ferrer", "Durán", "Santiago", "Benítez", "Mora", "Vicente", "Vargas", "Arias", "Carmona",
    "Crespo", "Román", "Pastor", "Soto", "Sáez", "Velasco", "Moya", "Soler", "Parra",
    "Esteban", "Bravo", "Gallardo", "Rojas", "Etxeberria", "Aguirre", "Puig", "Smith",
    "Johnson", "Brown", "Dubois", "Martin", "Rossi", "Müller", "Schmidt", "O'Brien",
    "Van der Berg", "De la Fuente", "Del Río",
]
# (city, province postal prefix, region)
CITIES = [
    ("Madrid", "28", "Madrid"), ("Alcalá de Henares", "28", "Madrid"), ("Móstoles", "28", "Madrid"),
    ("Barcelona", "08", "Cataluña"), ("Sabadell", "08", "Cataluña"), ("Girona", "17", "Cataluña"),
    ("Valencia", "46", "Comunidad Valenciana"), ("Alicante", "03", "Comunidad Valenciana"),
    ("Sevilla", "41", "Andalucía"), ("Málaga", "29", "Andalucía"), ("Córdoba", "14", "Andalucía"),
    ("Granada", "18", "Andalucía"), ("Bilbao", "48", "País Vasco"), ("San Sebastián", "20", "País Vasco"),
    ("Zaragoza", "50", "Aragón"), ("A Coruña", "15", "Galicia"), ("Vigo", "36", "Galicia"),
    ("Valladolid", "47", "Castilla y León"), ("Murcia", "30", "Región de Murcia"),
    ("Palma", "07", "Illes Balears"), ("Las Palmas de Gran Canaria", "35", "Canarias"),
    ("Oviedo", "33", "Asturias"), ("Pamplona", "31", "Navarra"), ("Santander", "39", "Cantabria"),
]
STREET_TYPES = ["Calle", "Avenida", "Paseo", "Plaza", "Camino", "Ronda"]
STREET_NAMES = [
    "Mayor", "Real", "de la Constitución", "de Andalucía", "del Sol", "San Juan", "de Goya",
    "de Alcalá", "Gran Vía", "de la Libertad", "del Mar", "de Cervantes", "Nueva", "del Carmen",
    "de la Paz", "de Valencia", "de las Flores", "Castilla", "de Colón", "San Francisco",
    "de Sagasta", "del Prado", "de la Estación", "de Europa", "de los Olivos", "Príncipe de Vergara",
]
EMAIL_DOMAINS = ["gmail.com", "hotmail.com", "yahoo.es", "outlook.com", "telefonica.net", "icloud.com"]
COMPANY_PREFIXES = ["Transportes", "Logística", "Distribuciones", "Construcciones", "Servicios",
                    "Flota", "Instalaciones", "Reparto", "Talleres", "Frutas"]
COMPANY_SUFFIXES = ["S.L.", "S.A.", "SL", "SA", "S.L.U.", "Sociedad Limitada"]

# (model, base price EUR, connected-capable from model year)
MODELS = [
    ("Micra", 17000, 2019), ("Juke", 23000, 2018), ("Qashqai", 29000, 2017),
    ("X-Trail", 36000, 2017), ("Leaf", 33000, 2016), ("Ariya", 47000, 2022),
    ("Navara", 38000, 2019), ("Townstar", 26000, 2022), ("Primastar", 34000, 2022),
    ("Note", 15000, 2100), ("Pulsar", 21000, 2100),
]
TRIMS = ["Visia", "Acenta", "N-Connecta", "Tekna", "Tekna+"]
CONNECTED_PRODUCTS = ["NissanConnect Services", "SiriusXM", "AT&T WiFi Hotspot"]
PLANS = [
    "lead_management", "order", "first_year", "brand_commitment", "renewal",
    "after_sales_in_warranty", "after_sales_out_of_warranty",
]
SALES_PLANS = {"lead_management", "order", "renewal"}
CHANNELS = ["email", "mail", "sms", "telemarketing"]
CHANNEL_COST = {"email": 0.05, "sms": 0.08, "mail": 0.95, "telemarketing": 4.5}
OFFERS = {
    "lead_management": "Test drive + 500 EUR discount",
    "order": "Accessories pack at 50%",
    "first_year": "Free first check-up",
    "brand_commitment": "Loyalty points x2",
    "renewal": "Trade-in bonus 2,000 EUR",
    "after_sales_in_warranty": "Annual service 129 EUR",
    "after_sales_out_of_warranty": "Service pack 199 EUR",
}
SEGMENTS = ["A1 Urban affluent", "A2 Suburban families", "B1 Young professionals",
            "B2 Established middle", "C1 Rural traditional", "C2 Budget urban", "D1 Seniors"]
REGIONS = sorted({c[2] for c in CITIES})

# Survey comments by sentiment and language. Sentiment must be recoverable per language.
COMMENTS = {
    ("pos", "es"): ["Muy buena atención, todo perfecto", "Excelente servicio, volveré",
                    "Trato amable y rápido, muy contento"],
    ("neu", "es"): ["Correcto, sin más", "El servicio fue normal", "Tardaron un poco pero bien"],
    ("neg", "es"): ["Muy mala experiencia, no vuelvo", "Caro y lento, un desastre",
                    "Pésima atención, me engañaron"],
    ("pos", "en"): ["Great service, very happy", "Excellent staff, quick and friendly"],
    ("neu", "en"): ["It was okay", "Average experience, nothing special"],
    ("neg", "en"): ["Terrible service, never again", "Slow and expensive, very disappointed"],
    ("pos", "fr"): ["Très bon service, merci", "Excellent accueil, rapide"],
    ("neu", "fr"): ["Correct, sans plus", "Service moyen"],
    ("neg", "fr"): ["Très mauvaise expérience", "Service lent et cher, déçu"],
    ("pos", "de"): ["Sehr guter Service, danke", "Ausgezeichnet und schnell"],
    ("neu", "de"): ["War in Ordnung", "Durchschnittlicher Service"],
    ("neg", "de"): ["Sehr schlechter Service", "Langsam und teuer, enttäuscht"],
}

ACCENTS_FROM = "áéíóúÁÉÍÓÚàèìòùÀÈÌÒÙäëïöüÄËÏÖÜâêîôûÂÊÎÔÛñÑçÇ"
ACCENTS_TO = "aeiouAEIOUaeiouAEIOUaeiouAEIOUaeiouAEIOUnNcC"
