FROM node:20 AS template
WORKDIR /app
ONBUILD COPY package.json .
ONBUILD RUN npm install
ONBUILD COPY . .
CMD ["npm", "start"]
