"""The risk team's workspace in the browser: server-rendered pages over the same services
as the HTTP API, served by ``tci serve`` beside it (docs/web.md).

People sign in with a name and password (``tci users create``) and get a session cookie;
every form carries the session's CSRF token; roles (viewer, analyst, manager) say who may
change what, and every change goes to the API's audit table.
"""
