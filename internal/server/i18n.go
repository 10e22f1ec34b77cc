package server

import (
	"net/http"

	"golang.org/x/text/language"
)

// The product's pages speak Spanish and English. The language comes from the
// ?lang= switch (remembered in a preference cookie), else the lang cookie,
// else Accept-Language, else English.
var (
	languages   = []language.Tag{language.English, language.Spanish}
	langMatcher = language.NewMatcher(languages)
)

const langCookie = "lang"

// supportedLang returns the base language code if it is one we speak.
func supportedLang(s string) (string, bool) {
	switch s {
	case "en", "es":
		return s, true
	}
	return "", false
}

// withLanguage resolves the page language. A ?lang= switch sets a cookie
// holding only the preference: it changes nothing on the server.
func (s *Server) withLanguage(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ri := requestInfoFrom(r.Context())
		if l, ok := supportedLang(r.URL.Query().Get("lang")); ok {
			ri.Lang = l
			// Secure whenever clients reach us over HTTPS; plain HTTP is only
			// ever served on loopback (config.Validate), where it cannot be.
			http.SetCookie(w, &http.Cookie{ // #nosec G124 -- Secure is set under TLS, see above
				Name: langCookie, Value: l, Path: "/", MaxAge: 365 * 24 * 3600,
				HttpOnly: true, Secure: s.secureTransport, SameSite: http.SameSiteLaxMode,
			})
		} else if c, err := r.Cookie(langCookie); err == nil {
			ri.Lang, _ = supportedLang(c.Value)
		}
		if ri.Lang == "" {
			tags, _, _ := language.ParseAcceptLanguage(r.Header.Get("Accept-Language"))
			_, i, _ := langMatcher.Match(tags...)
			ri.Lang = []string{"en", "es"}[i]
		}
		next.ServeHTTP(w, r)
	})
}

// messages holds every text the pages show, per language. A test checks
// that every key a template uses exists in both.
// The catalogs mention passwords; they hold page texts, not credentials.
var messages = map[string]map[string]string{
	"en": { // #nosec G101 -- page texts, not credentials
		"account.log":                      "Activity and access log",
		"account.log_lead":                 "Sign-ins, changes to your account, and every time staff viewed or changed your data (by role), newest first.",
		"log.when":                         "When",
		"log.what":                         "What",
		"log.who":                          "By",
		"log.from":                         "From",
		"act.account.sign_up":              "Account created",
		"act.account.email_verified":       "E-mail address confirmed",
		"act.session.sign_in":              "Signed in",
		"act.session.sign_in_failed":       "Failed sign-in",
		"act.session.sign_in_throttled":    "Sign-in slowed down after failures",
		"act.session.sign_out":             "Signed out",
		"act.session.token_refreshed":      "App session renewed",
		"act.session.refresh_token_reused": "Stolen app token detected; that sign-in was ended",
		"act.session.others_revoked":       "Other sessions and apps signed out",
		"act.account.password_changed":     "Password changed",
		"act.account.password_reset":       "Password reset by e-mail link",
		"act.profile.changed":              "Profile changed",
		"act.profile.phone_added":          "Phone number added",
		"act.profile.phone_removed":        "Phone number removed",
		"act.profile.address_added":        "Address added",
		"act.profile.address_changed":      "Address changed",
		"act.profile.address_removed":      "Address removed",
		"outcome.success":                  "done",
		"outcome.failure":                  "failed",
		"outcome.denied":                   "refused",
		"actor.customer":                   "You",
		"actor.staff":                      "Staff",
		"actor.system":                     "System",
		"actor.anonymous":                  "Someone",
		"brand":                            "resguardo",
		"nav.lang":                         "Language",
		"nav.skip":                         "Skip to content",
		"home.title":                       "Your data, kept safe",
		"home.lead":                        "resguardo keeps your account, addresses and phone numbers encrypted, and records every time staff look at them.",
		"home.point.encrypt":               "Every personal field is encrypted with a key of your own.",
		"home.point.log":                   "You can see when, and by which role, your data was viewed.",
		"home.point.erase":                 "Erasing your account destroys your key: your data cannot come back.",
		"staff.login.title":                "Staff sign-in",
		"staff.login.lead":                 "This console is for the business's staff. Accounts are created by an administrator; each person sets a password and a second factor from their enrolment link.",
		"staff.login.soon":                 "Sign-in opens when staff accounts are enabled on this deployment.",
		"error.title":                      "Something went wrong",
		"error.400":                        "The request could not be understood.",
		"error.401":                        "You need to sign in to see this page.",
		"error.403":                        "You are not allowed to do this.",
		"error.404":                        "There is nothing at this address.",
		"error.405":                        "This action is not possible here.",
		"error.413":                        "What you sent is too large.",
		"error.415":                        "What you sent is in a format we do not accept.",
		"error.429":                        "Too many attempts. Please wait a moment and try again.",
		"error.500":                        "An internal error occurred. It has been recorded.",
		"error.503":                        "The service is briefly unavailable. Please try again shortly.",
		"error.ref":                        "Reference",
		"error.home":                       "Go to the home page",
		"footer":                           "Personal data is encrypted at rest and in transit.",
		"nav.main":                         "Main",
		"nav.account":                      "Your account",
		"nav.logout":                       "Sign out",
		"nav.login":                        "Sign in",
		"nav.register":                     "Create an account",
		"form.check":                       "Please check the following:",
		"form.save":                        "Save",
		"form.delete":                      "Remove",
		"register.title":                   "Create an account",
		"register.submit":                  "Create account",
		"register.have":                    "Already have an account? Sign in",
		"register.done":                    "Thank you. If the address can be used, we have sent it a link: open it to confirm your address. You can already sign in.",
		"field.name":                       "Name",
		"field.email":                      "E-mail address",
		"field.password":                   "Password",
		"field.new_password":               "New password",
		"field.current_password":           "Current password",
		"field.label":                      "Label (optional)",
		"field.phone":                      "Phone number, with country code",
		"field.line1":                      "Address",
		"field.line2":                      "Address, second line (optional)",
		"field.city":                       "City",
		"field.region":                     "Province or region (optional)",
		"field.postal_code":                "Postal code (optional)",
		"field.country":                    "Country (two-letter code, e.g. ES)",
		"hint.password":                    "12 to 128 characters. Any characters; a long phrase is best. Common passwords are refused.",
		"login.title":                      "Sign in",
		"login.submit":                     "Sign in",
		"login.forgot":                     "Forgot your password?",
		"login.failed":                     "The e-mail address or password is not correct.",
		"verify.title":                     "Confirm your e-mail address",
		"verify.lead":                      "Press the button to confirm this address for your account.",
		"verify.submit":                    "Confirm address",
		"verify.done":                      "Your e-mail address is confirmed.",
		"forgot.title":                     "Reset your password",
		"forgot.lead":                      "Enter your e-mail address and we will send you a link to choose a new password.",
		"forgot.submit":                    "Send link",
		"forgot.done":                      "If the address has an account, we have sent it a link. It works once and expires in 30 minutes.",
		"reset.title":                      "Choose a new password",
		"reset.submit":                     "Set password",
		"reset.done":                       "Your password is set. Every session was signed out; sign in again with the new password.",
		"account.title":                    "Your account",
		"account.profile":                  "Profile",
		"account.verified":                 "confirmed",
		"account.unverified":               "not confirmed yet",
		"account.phones":                   "Phone numbers",
		"account.none":                     "None yet.",
		"account.add_phone":                "Add phone number",
		"account.addresses":                "Postal addresses",
		"account.add_address":              "Add an address",
		"account.saved":                    "Saved.",
		"security.title":                   "Security",
		"security.password":                "Change your password",
		"security.change":                  "Change password",
		"security.changed":                 "Your password was changed. Your other sessions and apps were signed out.",
		"error.field.email":                "Enter a valid e-mail address, like name@example.com.",
		"error.field.password":             "The password must have 12 to 128 characters and not be a common password.",
		"error.field.new_password":         "The new password must have 12 to 128 characters and not be a common password.",
		"error.field.current_password":     "The current password is not correct.",
		"error.field.name":                 "Enter a name of up to 200 characters.",
		"error.field.number":               "Enter a valid phone number starting with + and the country code.",
		"error.field.label":                "The label can have up to 40 characters.",
		"error.field.line1":                "Enter the address (up to 200 characters).",
		"error.field.line2":                "The second line can have up to 200 characters.",
		"error.field.city":                 "Enter the city (up to 100 characters).",
		"error.field.region":               "The region can have up to 100 characters.",
		"error.field.postal_code":          "The postal code can have up to 20 characters.",
		"error.field.country":              "Enter the two-letter country code, like ES or MX.",
		"error.field.generic":              "A field is not valid.",
		"error.conflict":                   "That is already on your account.",
		"error.link":                       "This link is not valid or has expired. Ask for a new one.",
	},
	"es": { // #nosec G101 -- page texts, not credentials
		"account.log":                      "Actividad y accesos",
		"account.log_lead":                 "Inicios de sesión, cambios en tu cuenta y cada vez que el personal consultó o cambió tus datos (por rol), de lo más reciente a lo más antiguo.",
		"log.when":                         "Cuándo",
		"log.what":                         "Qué",
		"log.who":                          "Quién",
		"log.from":                         "Desde",
		"act.account.sign_up":              "Cuenta creada",
		"act.account.email_verified":       "Correo confirmado",
		"act.session.sign_in":              "Inicio de sesión",
		"act.session.sign_in_failed":       "Inicio de sesión fallido",
		"act.session.sign_in_throttled":    "Inicio de sesión frenado tras varios fallos",
		"act.session.sign_out":             "Sesión cerrada",
		"act.session.token_refreshed":      "Sesión de la app renovada",
		"act.session.refresh_token_reused": "Token de app robado detectado; esa sesión se cerró",
		"act.session.others_revoked":       "Otras sesiones y apps cerradas",
		"act.account.password_changed":     "Contraseña cambiada",
		"act.account.password_reset":       "Contraseña restablecida por enlace",
		"act.profile.changed":              "Perfil cambiado",
		"act.profile.phone_added":          "Teléfono añadido",
		"act.profile.phone_removed":        "Teléfono quitado",
		"act.profile.address_added":        "Dirección añadida",
		"act.profile.address_changed":      "Dirección cambiada",
		"act.profile.address_removed":      "Dirección quitada",
		"outcome.success":                  "hecho",
		"outcome.failure":                  "fallido",
		"outcome.denied":                   "rechazado",
		"actor.customer":                   "Tú",
		"actor.staff":                      "Personal",
		"actor.system":                     "Sistema",
		"actor.anonymous":                  "Alguien",
		"brand":                            "resguardo",
		"nav.lang":                         "Idioma",
		"nav.skip":                         "Saltar al contenido",
		"home.title":                       "Tus datos, a buen recaudo",
		"home.lead":                        "resguardo guarda cifrados tu cuenta, tus direcciones y tus teléfonos, y registra cada vez que el personal los consulta.",
		"home.point.encrypt":               "Cada dato personal se cifra con una clave propia tuya.",
		"home.point.log":                   "Puedes ver cuándo, y desde qué rol, se consultaron tus datos.",
		"home.point.erase":                 "Al borrar tu cuenta se destruye tu clave: tus datos no se pueden recuperar.",
		"staff.login.title":                "Acceso del personal",
		"staff.login.lead":                 "Esta consola es para el personal de la empresa. Las cuentas las crea un administrador; cada persona fija su contraseña y su segundo factor desde su enlace de alta.",
		"staff.login.soon":                 "El acceso se abrirá cuando se activen las cuentas del personal en esta instalación.",
		"error.title":                      "Algo ha salido mal",
		"error.400":                        "No se ha podido entender la petición.",
		"error.401":                        "Tienes que iniciar sesión para ver esta página.",
		"error.403":                        "No tienes permiso para hacer esto.",
		"error.404":                        "No hay nada en esta dirección.",
		"error.405":                        "Esta acción no es posible aquí.",
		"error.413":                        "Lo que has enviado es demasiado grande.",
		"error.415":                        "Lo que has enviado está en un formato que no aceptamos.",
		"error.429":                        "Demasiados intentos. Espera un momento y vuelve a intentarlo.",
		"error.500":                        "Se ha producido un error interno. Ha quedado registrado.",
		"error.503":                        "El servicio no está disponible por un momento. Inténtalo de nuevo en breve.",
		"error.ref":                        "Referencia",
		"error.home":                       "Ir a la página de inicio",
		"footer":                           "Los datos personales van cifrados en reposo y en tránsito.",
		"nav.main":                         "Principal",
		"nav.account":                      "Tu cuenta",
		"nav.logout":                       "Cerrar sesión",
		"nav.login":                        "Iniciar sesión",
		"nav.register":                     "Crear una cuenta",
		"form.check":                       "Revisa lo siguiente:",
		"form.save":                        "Guardar",
		"form.delete":                      "Quitar",
		"register.title":                   "Crear una cuenta",
		"register.submit":                  "Crear cuenta",
		"register.have":                    "¿Ya tienes cuenta? Inicia sesión",
		"register.done":                    "Gracias. Si la dirección se puede usar, le hemos enviado un enlace: ábrelo para confirmarla. Ya puedes iniciar sesión.",
		"field.name":                       "Nombre",
		"field.email":                      "Correo electrónico",
		"field.password":                   "Contraseña",
		"field.new_password":               "Contraseña nueva",
		"field.current_password":           "Contraseña actual",
		"field.label":                      "Etiqueta (opcional)",
		"field.phone":                      "Teléfono, con prefijo del país",
		"field.line1":                      "Dirección",
		"field.line2":                      "Dirección, segunda línea (opcional)",
		"field.city":                       "Ciudad",
		"field.region":                     "Provincia o región (opcional)",
		"field.postal_code":                "Código postal (opcional)",
		"field.country":                    "País (código de dos letras, p. ej. ES)",
		"hint.password":                    "De 12 a 128 caracteres. Cualquier carácter vale; lo mejor es una frase larga. Las contraseñas comunes no se aceptan.",
		"login.title":                      "Iniciar sesión",
		"login.submit":                     "Entrar",
		"login.forgot":                     "¿Has olvidado tu contraseña?",
		"login.failed":                     "El correo electrónico o la contraseña no son correctos.",
		"verify.title":                     "Confirma tu correo electrónico",
		"verify.lead":                      "Pulsa el botón para confirmar esta dirección en tu cuenta.",
		"verify.submit":                    "Confirmar dirección",
		"verify.done":                      "Tu dirección de correo está confirmada.",
		"forgot.title":                     "Restablece tu contraseña",
		"forgot.lead":                      "Escribe tu correo electrónico y te enviaremos un enlace para elegir una contraseña nueva.",
		"forgot.submit":                    "Enviar enlace",
		"forgot.done":                      "Si la dirección tiene cuenta, le hemos enviado un enlace. Sirve una sola vez y caduca en 30 minutos.",
		"reset.title":                      "Elige una contraseña nueva",
		"reset.submit":                     "Guardar contraseña",
		"reset.done":                       "Tu contraseña está guardada. Se han cerrado todas las sesiones; entra de nuevo con la contraseña nueva.",
		"account.title":                    "Tu cuenta",
		"account.profile":                  "Perfil",
		"account.verified":                 "confirmado",
		"account.unverified":               "sin confirmar",
		"account.phones":                   "Teléfonos",
		"account.none":                     "Ninguno todavía.",
		"account.add_phone":                "Añadir teléfono",
		"account.addresses":                "Direcciones postales",
		"account.add_address":              "Añadir una dirección",
		"account.saved":                    "Guardado.",
		"security.title":                   "Seguridad",
		"security.password":                "Cambia tu contraseña",
		"security.change":                  "Cambiar contraseña",
		"security.changed":                 "Tu contraseña ha cambiado. Se han cerrado tus otras sesiones y aplicaciones.",
		"error.field.email":                "Escribe un correo válido, como nombre@ejemplo.com.",
		"error.field.password":             "La contraseña debe tener de 12 a 128 caracteres y no ser una contraseña común.",
		"error.field.new_password":         "La contraseña nueva debe tener de 12 a 128 caracteres y no ser una contraseña común.",
		"error.field.current_password":     "La contraseña actual no es correcta.",
		"error.field.name":                 "Escribe un nombre de hasta 200 caracteres.",
		"error.field.number":               "Escribe un teléfono válido que empiece por + y el prefijo del país.",
		"error.field.label":                "La etiqueta puede tener hasta 40 caracteres.",
		"error.field.line1":                "Escribe la dirección (hasta 200 caracteres).",
		"error.field.line2":                "La segunda línea puede tener hasta 200 caracteres.",
		"error.field.city":                 "Escribe la ciudad (hasta 100 caracteres).",
		"error.field.region":               "La región puede tener hasta 100 caracteres.",
		"error.field.postal_code":          "El código postal puede tener hasta 20 caracteres.",
		"error.field.country":              "Escribe el código de país de dos letras, como ES o MX.",
		"error.field.generic":              "Hay un campo que no es válido.",
		"error.conflict":                   "Eso ya está en tu cuenta.",
		"error.link":                       "Este enlace no es válido o ha caducado. Pide uno nuevo.",
	},
}

// translator returns the lookup function for one language. A missing key
// shows itself, visibly wrong, rather than an empty string.
func translator(lang string) func(string) string {
	m := messages[lang]
	return func(key string) string {
		if v, ok := m[key]; ok {
			return v
		}
		return key
	}
}
