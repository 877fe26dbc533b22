"""Hand-written fact tables behind the local knowledge and hard MCQ suites.

Only simple, uncontested facts (no disputed capitals, no "longest river"), so every generated
answer key is correct by construction. Nothing here is copied from a benchmark.
"""
from __future__ import annotations

# country: (capital, continent or "", main language or "")
COUNTRIES: dict[str, tuple[str, str, str]] = {
    "France": ("Paris", "Europe", "French"),
    "Germany": ("Berlin", "Europe", "German"),
    "Italy": ("Rome", "Europe", "Italian"),
    "Spain": ("Madrid", "Europe", "Spanish"),
    "Portugal": ("Lisbon", "Europe", "Portuguese"),
    "the United Kingdom": ("London", "Europe", "English"),
    "Ireland": ("Dublin", "Europe", ""),
    "the Netherlands": ("Amsterdam", "Europe", "Dutch"),
    "Greece": ("Athens", "Europe", "Greek"),
    "Sweden": ("Stockholm", "Europe", "Swedish"),
    "Norway": ("Oslo", "Europe", "Norwegian"),
    "Denmark": ("Copenhagen", "Europe", "Danish"),
    "Finland": ("Helsinki", "Europe", "Finnish"),
    "Poland": ("Warsaw", "Europe", "Polish"),
    "Austria": ("Vienna", "Europe", ""),
    "Hungary": ("Budapest", "Europe", "Hungarian"),
    "the Czech Republic": ("Prague", "Europe", "Czech"),
    "Russia": ("Moscow", "", "Russian"),
    "Egypt": ("Cairo", "Africa", "Arabic"),
    "Kenya": ("Nairobi", "Africa", ""),
    "Ethiopia": ("Addis Ababa", "Africa", ""),
    "Ghana": ("Accra", "Africa", ""),
    "Japan": ("Tokyo", "Asia", "Japanese"),
    "China": ("Beijing", "Asia", "Chinese"),
    "India": ("New Delhi", "Asia", ""),
    "South Korea": ("Seoul", "Asia", "Korean"),
    "Thailand": ("Bangkok", "Asia", "Thai"),
    "Vietnam": ("Hanoi", "Asia", "Vietnamese"),
    "Indonesia": ("Jakarta", "Asia", "Indonesian"),
    "the Philippines": ("Manila", "Asia", ""),
    "Iran": ("Tehran", "Asia", "Persian"),
    "Iraq": ("Baghdad", "Asia", "Arabic"),
    "Saudi Arabia": ("Riyadh", "Asia", "Arabic"),
    "Bangladesh": ("Dhaka", "Asia", "Bengali"),
    "the United States": ("Washington, D.C.", "North America", "English"),
    "Canada": ("Ottawa", "North America", ""),
    "Mexico": ("Mexico City", "North America", "Spanish"),
    "Cuba": ("Havana", "North America", "Spanish"),
    "Brazil": ("Brasília", "South America", "Portuguese"),
    "Argentina": ("Buenos Aires", "South America", "Spanish"),
    "Chile": ("Santiago", "South America", "Spanish"),
    "Peru": ("Lima", "South America", "Spanish"),
    "Colombia": ("Bogotá", "South America", "Spanish"),
    "Venezuela": ("Caracas", "South America", "Spanish"),
    "Australia": ("Canberra", "Oceania", "English"),
    "New Zealand": ("Wellington", "Oceania", "English"),
}

CURRENCIES: dict[str, str] = {
    "Japan": "the yen", "the United States": "the dollar", "the United Kingdom": "the pound",
    "India": "the rupee", "China": "the yuan", "Russia": "the ruble", "Mexico": "the peso",
    "South Korea": "the won", "Brazil": "the real", "Germany": "the euro", "France": "the euro",
    "Sweden": "the krona", "Thailand": "the baht", "Poland": "the zloty",
}

YOUNG: dict[str, str] = {
    "dog": "a puppy", "cat": "a kitten", "cow": "a calf", "horse": "a foal", "sheep": "a lamb",
    "pig": "a piglet", "duck": "a duckling", "frog": "a tadpole", "kangaroo": "a joey",
    "bear": "a cub", "chicken": "a chick", "goose": "a gosling", "deer": "a fawn",
    "owl": "an owlet", "swan": "a cygnet", "goat": "a kid",
}

SOUNDS: dict[str, str] = {
    "dog": "bark", "cat": "meow", "cow": "moo", "sheep": "baa", "pig": "oink", "duck": "quack",
    "lion": "roar", "horse": "neigh", "owl": "hoot", "snake": "hiss", "bee": "buzz",
    "frog": "croak", "donkey": "bray", "wolf": "howl", "mouse": "squeak",
}

ANIMAL_CLASS: dict[str, str] = {
    "dog": "mammal", "whale": "mammal", "bat": "mammal", "dolphin": "mammal",
    "elephant": "mammal", "eagle": "bird", "penguin": "bird", "ostrich": "bird",
    "parrot": "bird", "shark": "fish", "salmon": "fish", "goldfish": "fish", "snake": "reptile",
    "lizard": "reptile", "crocodile": "reptile", "turtle": "reptile", "frog": "amphibian",
    "salamander": "amphibian", "ant": "insect", "bee": "insect", "butterfly": "insect",
    "beetle": "insect",
}

COLORS: dict[str, str] = {
    "the sky on a clear day": "blue", "fresh grass": "green", "fresh snow": "white",
    "a ripe banana": "yellow", "coal": "black", "a ripe tomato": "red", "milk": "white",
    "a lemon": "yellow", "chocolate": "brown", "a carrot": "orange", "a lime": "green",
    "blood": "red", "a crow": "black",
}

OPPOSITES: dict[str, str] = {
    "hot": "cold", "big": "small", "up": "down", "fast": "slow", "happy": "sad",
    "wet": "dry", "open": "closed", "full": "empty", "early": "late", "young": "old",
    "hard": "soft", "loud": "quiet", "rich": "poor", "strong": "weak", "tall": "short",
    "thick": "thin", "day": "night", "win": "lose", "push": "pull", "begin": "end",
    "above": "below", "inside": "outside", "first": "last", "clean": "dirty", "buy": "sell",
    "true": "false", "love": "hate", "left": "right", "north": "south", "east": "west",
    "easy": "difficult", "high": "low", "long": "short", "dark": "light", "arrive": "leave",
}

# question stem -> number
COUNTS: dict[str, int] = {
    "legs does a spider have": 8, "legs does an insect have": 6, "legs does a dog have": 4,
    "days are in a week": 7, "months are in a year": 12, "hours are in a day": 24,
    "minutes are in an hour": 60, "seconds are in a minute": 60,
    "sides does a triangle have": 3, "sides does a square have": 4,
    "sides does a hexagon have": 6, "sides does an octagon have": 8,
    "sides does a pentagon have": 5, "wheels does a bicycle have": 2,
    "wheels does a tricycle have": 3, "planets are in our solar system": 8,
    "continents are there on Earth": 7, "colors are in a rainbow": 7,
    "days are in a leap year": 366, "cents are in a dollar": 100,
    "centimeters are in a meter": 100, "grams are in a kilogram": 1000,
    "fingers are on one human hand": 5, "strings does a standard guitar have": 6,
    "players from one team are on the field in a soccer match": 11,
}

# (question, answer, three wrong answers); wrong answers are unambiguously wrong
SCIENCE: list[tuple[str, str, tuple[str, str, str]]] = [
    ("Which is the largest planet in our solar system?", "Jupiter", ("Mercury", "Mars", "Venus")),
    ("Which planet is closest to the Sun?", "Mercury", ("Jupiter", "Neptune", "Saturn")),
    ("Which planet is known as the Red Planet?", "Mars", ("Venus", "Jupiter", "Neptune")),
    ("Which planet do people live on?", "Earth", ("Mars", "Saturn", "Uranus")),
    ("What is the star at the center of our solar system?", "the Sun", ("the Moon", "Polaris",
                                                                       "Jupiter")),
    ("What is the natural satellite that orbits the Earth?", "the Moon", ("the Sun", "Mars",
                                                                         "a comet")),
    ("Which gas do plants take in from the air to make food?", "carbon dioxide",
     ("helium", "neon", "argon")),
    ("Which gas do humans need to breathe in to stay alive?", "oxygen", ("helium", "neon",
                                                                        "argon")),
    ("At what temperature in degrees Celsius does pure water freeze?", "0", ("50", "100", "-40")),
    ("At what temperature in degrees Celsius does pure water boil at sea level?", "100",
     ("0", "37", "10")),
    ("What is the chemical formula of water?", "H2O", ("CO2", "NaCl", "O3")),
    ("Which organ pumps blood through the human body?", "the heart", ("the stomach", "the lungs",
                                                                     "the skin")),
    ("Which organs do humans use to breathe?", "the lungs", ("the kidneys", "the ears",
                                                            "the bones")),
    ("Which organ do humans think with?", "the brain", ("the liver", "the stomach", "the heart")),
    ("Which body part do humans use to see?", "the eyes", ("the ears", "the nose", "the knees")),
    ("Which body part do humans use to hear?", "the ears", ("the eyes", "the elbows",
                                                           "the teeth")),
    ("Which body part do humans use to smell?", "the nose", ("the ears", "the feet", "the hair")),
    ("Which is the largest ocean on Earth?", "the Pacific Ocean", ("the Indian Ocean",
                                                                  "the Arctic Ocean",
                                                                  "the Southern Ocean")),
    ("What is the tallest mountain on Earth?", "Mount Everest", ("Mount Fuji", "Ben Nevis",
                                                                "Mount Olympus")),
    ("Which force pulls objects toward the ground?", "gravity", ("magnetism", "friction",
                                                                "electricity")),
    ("What do bees make?", "honey", ("milk", "silk", "wool")),
    ("What is ice made of?", "frozen water", ("frozen milk", "salt", "sand")),
    ("What do plants need from the Sun to grow?", "light", ("sound", "salt", "smoke")),
    ("Which animal is the largest animal on Earth?", "the blue whale", ("the mouse", "the cat",
                                                                       "the rabbit")),
    ("What do caterpillars turn into?", "butterflies", ("frogs", "birds", "fish")),
]

# (question, answer, three wrong answers)
PEOPLE: list[tuple[str, str, tuple[str, str, str]]] = [
    ("Who wrote the play Romeo and Juliet?", "William Shakespeare",
     ("Charles Darwin", "Isaac Newton", "Neil Armstrong")),
    ("Who painted the Mona Lisa?", "Leonardo da Vinci",
     ("Albert Einstein", "Charles Dickens", "George Washington")),
    ("Who developed the theory of relativity?", "Albert Einstein",
     ("William Shakespeare", "Christopher Columbus", "Vincent van Gogh")),
    ("Who was the first person to walk on the Moon?", "Neil Armstrong",
     ("Isaac Newton", "Leonardo da Vinci", "Charles Darwin")),
    ("Who was the first President of the United States?", "George Washington",
     ("Albert Einstein", "William Shakespeare", "Isaac Newton")),
    ("Who discovered penicillin?", "Alexander Fleming",
     ("Neil Armstrong", "Vincent van Gogh", "William Shakespeare")),
    ("Who described the laws of motion and universal gravitation?", "Isaac Newton",
     ("Vincent van Gogh", "George Washington", "Christopher Columbus")),
    ("Who wrote the Harry Potter books?", "J. K. Rowling",
     ("Isaac Newton", "Albert Einstein", "Neil Armstrong")),
    ("Who painted The Starry Night?", "Vincent van Gogh",
     ("Isaac Newton", "Neil Armstrong", "George Washington")),
    ("Who proposed the theory of evolution by natural selection?", "Charles Darwin",
     ("Vincent van Gogh", "Neil Armstrong", "J. K. Rowling")),
    ("Who sailed across the Atlantic to the Americas in 1492?", "Christopher Columbus",
     ("Albert Einstein", "J. K. Rowling", "Vincent van Gogh")),
    ("Who composed the Moonlight Sonata?", "Ludwig van Beethoven",
     ("Neil Armstrong", "Charles Darwin", "George Washington")),
    ("Who wrote the novel Oliver Twist?", "Charles Dickens",
     ("Neil Armstrong", "Isaac Newton", "Albert Einstein")),
    ("Who is credited with inventing the telephone?", "Alexander Graham Bell",
     ("William Shakespeare", "Vincent van Gogh", "J. K. Rowling")),
]

DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August",
          "September", "October", "November", "December"]
SEASONS = ["spring", "summer", "autumn", "winter"]
PLANETS = ["Mercury", "Venus", "Earth", "Mars", "Jupiter", "Saturn", "Uranus", "Neptune"]
