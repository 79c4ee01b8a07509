"""The front ends: the CLI, the Telegram bot and terminal rendering. Top floor: thin adapters that
call `answers.answer.answer` and render the `Answer`'s fields."""
