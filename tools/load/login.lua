-- wrk script: POST /api/v1/auth/login with the seeded customer.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"email":"load@example.com","password":"correct horse battery staple"}'
