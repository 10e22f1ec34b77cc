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
var messages = map[string]map[string]string{
	"en": {
		"brand":              "resguardo",
		"nav.lang":           "Language",
		"nav.skip":           "Skip to content",
		"home.title":         "Your data, kept safe",
		"home.lead":          "resguardo keeps your account, addresses and phone numbers encrypted, and records every time staff look at them.",
		"home.point.encrypt": "Every personal field is encrypted with a key of your own.",
		"home.point.log":     "You can see when, and by which role, your data was viewed.",
		"home.point.erase":   "Erasing your account destroys your key: your data cannot come back.",
		"staff.login.title":  "Staff sign-in",
		"staff.login.lead":   "This console is for the business's staff. Accounts are created by an administrator; each person sets a password and a second factor from their enrolment link.",
		"staff.login.soon":   "Sign-in opens when staff accounts are enabled on this deployment.",
		"error.title":        "Something went wrong",
		"error.400":          "The request could not be understood.",
		"error.401":          "You need to sign in to see this page.",
		"error.403":          "You are not allowed to do this.",
		"error.404":          "There is nothing at this address.",
		"error.405":          "This action is not possible here.",
		"error.413":          "What you sent is too large.",
		"error.415":          "What you sent is in a format we do not accept.",
		"error.429":          "Too many attempts. Please wait a moment and try again.",
		"error.500":          "An internal error occurred. It has been recorded.",
		"error.503":          "The service is briefly unavailable. Please try again shortly.",
		"error.ref":          "Reference",
		"error.home":         "Go to the home page",
		"footer":             "Personal data is encrypted at rest and in transit.",
	},
	"es": {
		"brand":              "resguardo",
		"nav.lang":           "Idioma",
		"nav.skip":           "Saltar al contenido",
		"home.title":         "Tus datos, a buen recaudo",
		"home.lead":          "resguardo guarda cifrados tu cuenta, tus direcciones y tus teléfonos, y registra cada vez que el personal los consulta.",
		"home.point.encrypt": "Cada dato personal se cifra con una clave propia tuya.",
		"home.point.log":     "Puedes ver cuándo, y desde qué rol, se consultaron tus datos.",
		"home.point.erase":   "Al borrar tu cuenta se destruye tu clave: tus datos no se pueden recuperar.",
		"staff.login.title":  "Acceso del personal",
		"staff.login.lead":   "Esta consola es para el personal de la empresa. Las cuentas las crea un administrador; cada persona fija su contraseña y su segundo factor desde su enlace de alta.",
		"staff.login.soon":   "El acceso se abrirá cuando se activen las cuentas del personal en esta instalación.",
		"error.title":        "Algo ha salido mal",
		"error.400":          "No se ha podido entender la petición.",
		"error.401":          "Tienes que iniciar sesión para ver esta página.",
		"error.403":          "No tienes permiso para hacer esto.",
		"error.404":          "No hay nada en esta dirección.",
		"error.405":          "Esta acción no es posible aquí.",
		"error.413":          "Lo que has enviado es demasiado grande.",
		"error.415":          "Lo que has enviado está en un formato que no aceptamos.",
		"error.429":          "Demasiados intentos. Espera un momento y vuelve a intentarlo.",
		"error.500":          "Se ha producido un error interno. Ha quedado registrado.",
		"error.503":          "El servicio no está disponible por un momento. Inténtalo de nuevo en breve.",
		"error.ref":          "Referencia",
		"error.home":         "Ir a la página de inicio",
		"footer":             "Los datos personales van cifrados en reposo y en tránsito.",
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
