"""Who is calling and what they may do: principals, roles, authentication, the access policy."""
