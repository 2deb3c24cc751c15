"""The result record's schema: its fields declared once (:mod:`.schema`), in a small type
vocabulary (:mod:`.types`), the migrations of older versions (:mod:`.migrations`) and the reference
page generated from it (:mod:`.reference`)."""
