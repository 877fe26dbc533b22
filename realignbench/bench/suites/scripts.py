"""Everyday activity scripts behind ``local_commonsense_completion``.

Each script is five steps in their natural order, written as third-person verb phrases;
``{pos}`` is the actor's possessive pronoun. The true next step of a script is the correct
ending; steps of unrelated scripts are the wrong ones. Written for this project.
"""
from __future__ import annotations

SCRIPTS: dict[str, list[str]] = {
    "Making tea": [
        "fills the kettle with water", "switches the kettle on and waits for it to boil",
        "puts a tea bag into a cup", "pours the hot water over the tea bag",
        "takes out the tea bag after a few minutes and sips the tea"],
    "Brushing teeth": [
        "picks up {pos} toothbrush", "squeezes some toothpaste onto the brush",
        "brushes {pos} teeth for two minutes", "spits the foam into the sink",
        "rinses {pos} mouth with water"],
    "Washing hands": [
        "turns on the tap", "wets {pos} hands under the water",
        "rubs soap between {pos} hands", "rinses the soap off under the water",
        "dries {pos} hands on a towel"],
    "Planting a seed": [
        "fills a small pot with soil", "makes a little hole in the soil with a finger",
        "drops a seed into the hole", "covers the seed with soil",
        "waters the pot and places it on a sunny windowsill"],
    "Baking cookies": [
        "mixes flour, butter and sugar in a bowl", "shapes the dough into small balls",
        "puts the balls on a baking tray", "bakes the tray in the hot oven for twelve minutes",
        "lets the cookies cool before eating one"],
    "Mailing a letter": [
        "writes a letter to a friend", "folds the letter and puts it in an envelope",
        "writes the address on the envelope", "sticks a stamp in the corner",
        "drops the envelope into the mailbox"],
    "Doing laundry": [
        "sorts the dirty clothes into whites and colors",
        "loads the clothes into the washing machine",
        "adds detergent and starts the wash", "hangs the wet clothes on a line to dry",
        "folds the dry clothes and puts them away"],
    "Changing a light bulb": [
        "switches off the lamp", "waits for the old bulb to cool down",
        "unscrews the old bulb", "screws in a new bulb", "switches the lamp on to test it"],
    "Making a sandwich": [
        "takes two slices of bread", "spreads butter on one slice",
        "adds cheese and lettuce", "places the second slice on top",
        "cuts the sandwich in half and eats it"],
    "Going to bed": [
        "puts on {pos} pajamas", "brushes {pos} teeth", "sets an alarm for the morning",
        "switches off the light", "closes {pos} eyes and falls asleep"],
    "Buying groceries": [
        "writes a shopping list", "drives to the supermarket",
        "puts the items from the list into a cart", "pays for the groceries at the checkout",
        "carries the bags home and puts the food in the fridge"],
    "Painting a wall": [
        "moves the furniture away from the wall", "covers the floor with old sheets",
        "pours paint into a tray", "rolls the paint evenly onto the wall",
        "lets the wall dry before putting the furniture back"],
    "Taking a photo": [
        "picks up the camera", "points the camera at the mountain",
        "adjusts the focus until the picture is sharp", "presses the button to take the photo",
        "looks at the photo on the screen"],
    "Riding a bicycle": [
        "puts on a helmet", "gets on the bicycle", "pushes off and starts pedaling",
        "rides along the path to the park", "brakes gently and gets off at the park"],
    "Making pancakes": [
        "whisks eggs, milk and flour into a batter", "heats a pan with a little oil",
        "pours a ladle of batter into the pan", "flips the pancake when bubbles appear",
        "serves the pancake with syrup"],
    "Catching a bus": [
        "walks to the bus stop", "checks the timetable",
        "waves to the driver as the bus arrives", "pays the fare when getting on",
        "takes a seat near the window"],
    "Cleaning a room": [
        "picks up the clothes from the floor", "dusts the shelves with a cloth",
        "vacuums the carpet", "empties the trash can",
        "opens the window to let in fresh air"],
    "Wrapping a present": [
        "places the gift box on the wrapping paper", "cuts enough paper to cover the box",
        "folds the paper around the box", "tapes the edges of the paper down",
        "ties a ribbon around the present"],
    "Cooking pasta": [
        "fills a large pot with water", "brings the water to a boil",
        "adds salt and the pasta", "drains the pasta when it is soft",
        "mixes the pasta with tomato sauce"],
    "Feeding a cat": [
        "takes a can of cat food from the cupboard", "opens the can",
        "spoons the food into the cat's bowl", "sets the bowl on the floor",
        "watches the cat eat its dinner"],
    "Writing an email": [
        "opens the email program", "types the address of the recipient",
        "writes a short subject line", "types the message and checks the spelling",
        "clicks the send button"],
    "Going swimming": [
        "changes into a swimsuit", "takes a shower by the pool",
        "climbs down the ladder into the water", "swims ten lengths of the pool",
        "climbs out and dries off with a towel"],
    "Building a snowman": [
        "rolls a big ball of snow for the body", "rolls a smaller ball for the head",
        "lifts the head onto the body", "adds a carrot for the nose",
        "wraps a scarf around the snowman's neck"],
    "Charging a phone": [
        "notices that the phone battery is low", "finds the charging cable",
        "plugs the charger into the wall socket", "connects the cable to the phone",
        "unplugs the phone when the battery is full"],
    "Washing dishes": [
        "fills the sink with warm soapy water", "scrubs the plates with a sponge",
        "rinses the plates under clean water", "puts the plates on a rack to dry",
        "puts the dry plates back in the cupboard"],
    "Reading a book": [
        "takes a book from the shelf", "sits down in a comfortable chair",
        "opens the book at the first page", "reads a few chapters",
        "puts a bookmark in the book and closes it"],
    "Making coffee": [
        "grinds the coffee beans", "puts the ground coffee into the filter",
        "pours water into the coffee machine", "switches on the machine and waits",
        "pours the fresh coffee into a mug"],
    "Walking a dog": [
        "takes the leash from the hook", "clips the leash to the dog's collar",
        "walks the dog around the block", "lets the dog sniff the trees in the park",
        "brings the dog home and fills its water bowl"],
    "Fixing a flat tire": [
        "removes the wheel from the bicycle", "takes the tube out of the tire",
        "finds the hole and covers it with a patch", "puts the tube back into the tire",
        "pumps the tire up with air"],
    "Checking in at an airport": [
        "arrives at the airport terminal", "shows {pos} passport at the check-in desk",
        "hands over {pos} suitcase", "walks through the security check",
        "waits at the gate until boarding starts"],
    "Making a bed": [
        "pulls the old sheets off the bed", "spreads a clean sheet over the mattress",
        "tucks the corners of the sheet under the mattress", "puts clean covers on the pillows",
        "lays the blanket neatly on top"],
    "Setting the table": [
        "lays a tablecloth over the table", "puts a plate at each seat",
        "places a fork to the left of each plate", "places a knife to the right of each plate",
        "fills each glass with water"],
    "Taking a shower": [
        "turns on the water and waits until it is warm", "steps into the shower",
        "washes {pos} hair with shampoo", "rinses off the soap",
        "turns off the water and reaches for a towel"],
    "Making a fire in a fireplace": [
        "puts some crumpled newspaper in the fireplace", "stacks small sticks on the paper",
        "lights the paper with a match", "adds a log once the sticks are burning",
        "sits down to enjoy the warmth"],
    "Sending a package": [
        "puts the items into a cardboard box", "seals the box with tape",
        "writes the address on a label", "takes the box to the post office",
        "pays the postage at the counter"],
    "Studying for a test": [
        "gathers {pos} notes and textbook", "reads through the chapter again",
        "writes a summary of the main ideas", "answers the practice questions",
        "checks the answers and reviews the mistakes"],
    "Picking apples": [
        "takes a basket to the orchard", "finds a tree full of ripe apples",
        "twists an apple gently off a branch", "places the apple in the basket",
        "carries the full basket back to the house"],
    "Watering the garden": [
        "connects the hose to the outside tap", "turns on the tap",
        "sprays water over the flower beds", "moves on to water the vegetables",
        "turns off the tap and rolls up the hose"],
    "Making a phone call": [
        "picks up the phone", "dials the number of a friend",
        "waits while the phone rings", "says hello when the friend answers",
        "says goodbye and hangs up"],
    "Going to the cinema": [
        "buys a ticket at the box office", "buys a bag of popcorn",
        "finds {pos} seat in the dark hall", "watches the film",
        "leaves the hall when the credits roll"],
    "Carving a pumpkin": [
        "cuts a lid around the top of the pumpkin", "scoops the seeds out with a spoon",
        "draws a face on the pumpkin", "carves out the eyes and the mouth",
        "puts a candle inside the pumpkin"],
    "Assembling a bookshelf": [
        "unpacks the pieces from the box", "reads the instruction sheet",
        "screws the side panels to the base", "slides the shelves into place",
        "stands the bookshelf against the wall and fills it with books"],
    "Packing for a trip": [
        "takes the suitcase out of the closet", "folds clothes into the suitcase",
        "adds a toothbrush and toiletries", "zips the suitcase closed",
        "carries the suitcase to the car"],
    "Making lemonade": [
        "squeezes the juice out of several lemons", "pours the juice into a jug",
        "stirs sugar into the juice", "fills the jug with cold water",
        "adds ice cubes and pours a glass"],
    "Mowing the lawn": [
        "checks that the mower has fuel", "starts the lawn mower",
        "pushes the mower in straight lines across the lawn", "empties the bag of cut grass",
        "puts the mower back in the shed"],
    "Visiting the doctor": [
        "calls the clinic to make an appointment", "arrives at the clinic on time",
        "waits in the waiting room", "describes {pos} symptoms to the doctor",
        "picks up the medicine at the pharmacy"],
    "Making a smoothie": [
        "peels a banana", "puts the banana and some berries into the blender",
        "pours in a cup of milk", "blends everything until smooth",
        "pours the smoothie into a glass"],
    "Cleaning a car": [
        "fills a bucket with soapy water", "washes the car with a sponge",
        "rinses the soap off with the hose", "dries the car with a soft cloth",
        "vacuums the seats inside the car"],
    "Flying a kite": [
        "walks to an open field on a windy day", "unrolls some of the kite string",
        "runs into the wind holding the string", "lets out more string as the kite rises",
        "reels the kite back in when the wind dies down"],
    "Repotting a plant": [
        "chooses a bigger pot", "puts fresh soil in the bottom of the new pot",
        "lifts the plant carefully out of the old pot", "sets the plant into the new pot",
        "fills the gaps with soil and waters the plant"],
    "Ordering at a restaurant": [
        "sits down at a table", "reads the menu", "tells the waiter what {pos} order is",
        "eats the meal when it arrives", "asks for the bill and pays"],
    "Getting ready for school": [
        "wakes up when the alarm rings", "gets dressed", "eats breakfast",
        "packs {pos} school bag", "walks to the school gate"],
}
