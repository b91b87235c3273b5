-- POST /auth/login with the credentials in LOGIN_EMAIL and LOGIN_PASSWORD.
wrk.method = "POST"
wrk.path = "/auth/login"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"email":"' .. os.getenv("LOGIN_EMAIL") .. '","password":"' .. os.getenv("LOGIN_PASSWORD") .. '"}'
