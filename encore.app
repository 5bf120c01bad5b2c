{
	// Leave "id" empty until the app is linked to Encore Cloud (`encore app link`).
	"id": "",
	"lang": "typescript"
}
