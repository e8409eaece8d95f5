console.log("hello from bake");
