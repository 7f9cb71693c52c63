"""The api's use cases: what each route and each consumed event does, in one transaction each.

`ports` declares what the use cases need of the world (repositories, the upload peer);
`marketplace` posts duties and decides applications; `members` keeps profiles and
notifications. No module here imports an I/O library: tests run them on in-memory fakes.
"""
