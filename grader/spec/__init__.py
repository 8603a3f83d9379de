"""What a lab declares, each concept once: the lab spec's schema and its loading (`lab`), a declared dataset
(`dataset`), the model slots its checks evaluate (`slots`), a lab.toml's problems by key and line (`lines`,
`problems`) and the generated reference of docs/lab-author.md (`reference`). Imports nothing else of the grader but
its errors."""
