// Gradle build of the Edge-SD-SR gallery app, for Android Studio / a machine with the Android SDK
// and Google's Maven. It is NOT built on the project's own machines (no Gradle or Android Gradle
// Plugin there): `nox -s android` builds the same modules from the same sources with
// android/tools/*.py, reading every version from gradle/libs.versions.toml.

pluginManagement {
    repositories {
        google()
        mavenCentral()
        gradlePluginPortal()
    }
}

dependencyResolutionManagement {
    repositoriesMode.set(RepositoriesMode.FAIL_ON_PROJECT_REPOS)
    repositories {
        google()
        mavenCentral()
    }
}

rootProject.name = "edge-sdsr-gallery"
include(":core", ":ort", ":app")
