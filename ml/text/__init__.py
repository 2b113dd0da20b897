"""Words in, films out: titles, search, plain-words requests and other sites' exports.

``titles`` (the one title normaliser), ``search`` (title search), ``intent`` with
``intent_words.toml`` (plain words → constraints), ``matching`` (another site's title and
year → a catalogue film) and ``imports`` (Letterboxd, IMDb and MovieLens rating exports).
"""
