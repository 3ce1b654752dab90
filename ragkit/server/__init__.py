"""``ragkit serve``: the OpenAI API (files, vector stores, search, Responses, chat completions)
answered from the user's own documents."""
